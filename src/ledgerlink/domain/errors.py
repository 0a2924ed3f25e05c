class ServiceError(Exception):
    """A request a service refuses, with what to fix.

    ``field`` names the offending input (dotted path for nested JSON), ``status`` is the HTTP status
    the API answers with (422 for bad input, 404 for a missing object, 409 for a state conflict).
    Nothing has been written when a ServiceError is raised.
    """

    def __init__(self, message: str, *, field: str | None = None, status: int = 422):
        super().__init__(message)
        self.message = message
        self.field = field
        self.status = status

    def as_dict(self) -> dict:
        return {"detail": self.message, "field": self.field}
