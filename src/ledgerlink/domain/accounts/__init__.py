"""People: users and roles (``users``), API tokens (``tokens``), sign-in audit and throttle (``logins``)."""
