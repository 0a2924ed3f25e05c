from django.urls import path

from ledgerlink.web import views
from ledgerlink.web.views import admin, auth, automation, connect, pages, requests, setup

app_name = "web"

urlpatterns = [
    path("healthz", views.healthz, name="healthz"),
    path("login/", auth.ThrottledLoginView.as_view(), name="login"),
    path("logout/", auth.AuditedLogoutView.as_view(next_page="/login/"), name="logout"),
    path("", pages.dashboard, name="dashboard"),
    path("orders/", pages.orders, name="orders"),
    path("orders/<int:pk>/", pages.order_detail, name="order_detail"),
    path("customers/", pages.customers, name="customers"),
    path("customers/search", requests.customer_search, name="customer_search"),
    path("requests/pending/", requests.requests_pending, name="requests_pending"),
    path("requests/pending/rows", requests.requests_pending_rows, name="requests_pending_rows"),
    path("requests/completed/", requests.requests_completed, name="requests_completed"),
    path("requests/completed/rows", requests.requests_completed_rows, name="requests_completed_rows"),
    path("requests/<int:pk>/", requests.request_detail, name="request_detail"),
    path("requests/<int:pk>/edit", requests.request_edit, name="request_edit"),
    path("requests/<int:pk>/requeue", requests.request_requeue, name="request_requeue"),
    path("requests/<int:pk>/cancel", requests.request_cancel, name="request_cancel"),
    path("requests/<int:pk>/create-customer", requests.request_create_customer, name="request_create_customer"),
    path("requests/<int:pk>/similar", requests.request_similar, name="request_similar"),
    path("requests/<int:pk>/make-rule", requests.request_make_rule, name="request_make_rule"),
    path("automation/", automation.rules, name="rules"),
    path("automation/new", automation.rule_new, name="rule_new"),
    path("automation/<int:pk>/", automation.rule_edit, name="rule_edit"),
    path("setup/", setup.setup, name="setup"),
    path("setup/site-areas/new", setup.site_area_new, name="site_area_new"),
    path("setup/site-areas/<int:pk>/", setup.site_area_edit, name="site_area_edit"),
    path("setup/order-sources/new", setup.order_source_new, name="order_source_new"),
    path("setup/order-sources/<int:pk>/", setup.order_source_edit, name="order_source_edit"),
    path("connections/", admin.connections, name="connections"),
    path("connections/new", connect.connection_new, name="connection_new"),
    path("connections/callback", connect.connection_callback, name="connection_callback"),
    path("connections/<int:pk>/disconnect", connect.connection_disconnect, name="connection_disconnect"),
    path("connections/<int:pk>/refresh", admin.connection_refresh, name="connection_refresh"),
    path("connections/<int:pk>/status", admin.connection_status, name="connection_status"),
    path("users/", admin.users, name="users"),
    path("users/new", admin.user_new, name="user_new"),
    path("users/<int:pk>/update", admin.user_update, name="user_update"),
    path("users/<int:pk>/tokens/new", admin.token_new, name="token_new"),
    path("tokens/<int:pk>/revoke", admin.token_revoke, name="token_revoke"),
]
