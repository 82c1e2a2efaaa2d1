import pytest


def consume(response) -> bytes:
    """All bytes of a (streamed) response, as a browser would read them."""
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content)
    return response.content


@pytest.fixture
def download():
    return consume
