"""Domain errors. Services raise them; the API and the dashboard translate them."""


class PodhubError(Exception):
    """Base of domain errors: `code` names it for the API error body."""

    code = "error"
    status = 400

    def __init__(self, message: str = "", **detail):
        super().__init__(message or self.__doc__ or self.code)
        self.message = message or (self.__doc__ or self.code).strip()
        self.detail = detail


class ValidationFailed(PodhubError):
    """The input is invalid."""

    code = "invalid"
    status = 400


class Conflict(PodhubError):
    """The action is not possible in the object's current state."""

    code = "conflict"
    status = 409


class NotFound(PodhubError):
    """No such object in this workspace."""

    code = "not_found"
    status = 404


class PermissionDenied(PodhubError):
    """Your role in this workspace does not allow this."""

    code = "permission_denied"
    status = 403
