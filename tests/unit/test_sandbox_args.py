"""What the sandbox reads off an instance's command line: the one token file it binds back."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from peacewatch.platform.stack.sandbox import token_file


def test_the_token_file_is_read_off_the_auth_params() -> None:
    args = ["--client_auth_plugin", "org.apache.pulsar.client.impl.auth.AuthenticationToken",
            "--client_auth_params", "file:///state/pulsar/instance-tokens/ab.token"]  # fmt: skip
    assert token_file(args) == Path("/state/pulsar/instance-tokens/ab.token")
    quoted = [*args[:3], "'file:///t/ab.token'"]
    assert token_file(quoted) == Path("/t/ab.token")


@given(st.text(min_size=1).filter(lambda s: not s.strip("'\"").startswith("file:///")))
def test_nothing_but_an_absolute_file_url_is_bound(params: str) -> None:
    # A bare token (Pulsar's own provider) or a relative path binds nothing back.
    assert token_file(["--client_auth_params", params]) is None
    assert token_file([]) is None
    assert token_file(["--client_auth_params"]) is None
