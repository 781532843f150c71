import yativo_async as y


def test_all_is_sorted_and_complete() -> None:
    assert y.__all__ == sorted(y.__all__)
    for name in y.__all__:
        assert hasattr(y, name), name


def test_contract_names_exist() -> None:
    # The names DESIGN.md section 2 promises.
    for name in [
        "YativoClient", "RateLimit", "AiohttpTransport", "HttpxTransport", "MockTransport",
        "ApiKey", "CreatedApiKey", "RotatedApiKey", "AccessToken", "KeyRateLimit", "Secret",
        "YativoError", "APIStatusError", "BadRequestError", "AuthenticationError",
        "PermissionDeniedError", "NotFoundError", "ConflictError", "RateLimitError",
        "ServerError", "APIConnectionError", "APITimeoutError", "ResponseDecodeError",
        "RetryPolicy",
    ]:
        assert name in y.__all__, name


def test_error_tree() -> None:
    for cls in (y.BadRequestError, y.AuthenticationError, y.PermissionDeniedError,
                y.NotFoundError, y.ConflictError, y.RateLimitError, y.ServerError):
        assert issubclass(cls, y.APIStatusError)
    assert issubclass(y.APITimeoutError, y.APIConnectionError)
    for cls in (y.APIStatusError, y.APIConnectionError, y.ResponseDecodeError,
                y.OutcomeUnknownError, y.TokenUnavailableError):
        assert issubclass(cls, y.YativoError)


def test_py_typed_ships() -> None:
    from importlib.resources import files

    assert files("yativo_async").joinpath("py.typed").is_file()
