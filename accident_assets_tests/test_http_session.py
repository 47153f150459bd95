from accident_assets.http_session import RETRY_STATUSES, retrying_session


def test_retrying_session_retries_gets_on_transient_statuses_and_keeps_headers():
    with retrying_session(3, 0.5, {"X-App-Token": "t"}) as session:
        retry = session.get_adapter("https://example.org").max_retries
        assert session.headers["X-App-Token"] == "t"
    assert (retry.total, retry.connect, retry.read, retry.status) == (3, 3, 3, 3)
    assert set(retry.status_forcelist) == set(RETRY_STATUSES)
    assert retry.allowed_methods == frozenset({"GET"})
    assert retry.respect_retry_after_header
