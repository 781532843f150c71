import pytest

import yativo_async as y
from yativo_async._sansio import error_from_response, safe_body


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, y.BadRequestError), (422, y.BadRequestError), (401, y.AuthenticationError),
        (403, y.PermissionDeniedError), (404, y.NotFoundError), (409, y.ConflictError),
        (429, y.RateLimitError), (500, y.ServerError), (502, y.ServerError),
        (503, y.ServerError), (504, y.ServerError), (418, y.APIStatusError),
    ],
)
def test_status_to_class(status: int, cls: type) -> None:
    error = error_from_response(status, {}, b"")
    assert type(error) is cls
    assert error.status == status


@pytest.mark.parametrize(
    ("body", "ctype", "message"),
    [
        (b'{"success": false, "message": "Invalid 2FA code"}', "application/json",
         "Invalid 2FA code"),
        (b'{"error": "invalid_grant"}', "application/json", "invalid_grant"),
        (b'{"error": {"message": "nested"}}', "application/json", "nested"),
        (b'{"detail": "Not found."}', "application/json", "Not found."),
        (b'{"errors": [{"message": "a"}, {"message": "b"}]}', "application/json", "a; b"),
        (b"plain text failure\nsecond line", "text/plain", "plain text failure"),
        (b"<html><head><title>502 Bad Gateway</title></head><body>x</body></html>",
         "text/html", "502 Bad Gateway"),
        (b"<html><body>nothing useful</body></html>", "text/html", "HTML error page"),
        (b"", "", "Forbidden"),
    ],
)
def test_lenient_error_bodies(body: bytes, ctype: str, message: str) -> None:
    error = error_from_response(403, {"content-type": ctype}, body)
    assert message in str(error)


def test_request_id_and_retry_after() -> None:
    error = error_from_response(429, {"x-request-id": "req_1"}, b"{}", retry_after=7.0)
    assert isinstance(error, y.RateLimitError)
    assert error.request_id == "req_1" and error.retry_after == 7.0
    assert "req_1" in str(error)


def test_body_capped_and_secrets_masked() -> None:
    body = b'{"message": "bad", "api_secret": "yvs_live_S3CRET", "access_token": "eyJabc"}'
    error = error_from_response(400, {}, body)
    assert "S3CRET" not in str(error) and "S3CRET" not in (error.body or "")
    assert "eyJabc" not in (error.body or "")
    long = safe_body(b"x" * 10_000)
    assert len(long) < 2100 and long.endswith("[truncated]")


def test_bearer_token_in_text_masked() -> None:
    error = error_from_response(401, {}, b"rejected Authorization: Bearer eyJhbGciOi.abc.def")
    assert "eyJhbGciOi" not in str(error)
