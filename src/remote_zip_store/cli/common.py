"""What every command shares: connection options, opening, output, usage errors."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..hierarchy.frontend import open_archive

if TYPE_CHECKING:
    from ..archive.reader import ZipArchive
    from ..zarr2.store import RemoteZipStore


PROG = "remote-zip-store"

#: Environment variables read as defaults of the failure options.
ENV_CONNECT_TIMEOUT = "RZS_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "RZS_READ_TIMEOUT"
ENV_MAX_ATTEMPTS = "RZS_MAX_ATTEMPTS"

#: What to do without credentials, in command-line terms.
CREDENTIALS_HINT = (
    "no AWS credentials found; pass --anon for a public bucket or --profile NAME, "
    "or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
)


class UsageError(Exception):
    """Bad usage found after parsing (exit code 2, like argparse's own errors)."""


# -- option types ------------------------------------------------------------------------
def positive_int(text: str) -> int:
    """An integer >= 1 (argparse type: anything else is a usage error)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def positive_float(text: str) -> float:
    """Seconds > 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be greater than 0, not {text}")
    return value


#: ``(flag, environment variable, type, metavar, help)`` of the failure options.
FAILURE_OPTIONS: tuple[tuple[str, str, Callable[[str], Any], str, str], ...] = (
    (
        "--connect-timeout",
        ENV_CONNECT_TIMEOUT,
        positive_float,
        "SECONDS",
        "to establish a connection (default 10",
    ),
    (
        "--read-timeout",
        ENV_READ_TIMEOUT,
        positive_float,
        "SECONDS",
        "waiting for the server to answer (default 60",
    ),
    (
        "--max-attempts",
        ENV_MAX_ATTEMPTS,
        positive_int,
        "N",
        "attempts per request, the first included (default 5",
    ),
)


def _env_default(name: str, convert: Callable[[str], Any]) -> Any:
    """``convert(os.environ[name])``, None when unset; a bad value is a usage error."""
    text = os.environ.get(name)
    if text is None or text == "":
        return None
    try:
        return convert(text)
    except argparse.ArgumentTypeError as exc:
        raise UsageError(f"{name}: {exc}") from None


# -- connection options ----------------------------------------------------------------
def _add_connection(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("connection (defaults: boto3's chain, AWS_* variables)")
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    group.add_argument("--endpoint-url", default=endpoint, help="S3 endpoint, e.g. MinIO's URL")
    group.add_argument("--region", default=None, help="region name")
    group.add_argument("--profile", default=None, help="AWS profile from ~/.aws/config")
    group.add_argument("--anon", action="store_true", help="unsigned requests (public buckets)")
    group.add_argument(
        "--verify",
        default=None,
        metavar="CA_BUNDLE|false",
        help="CA bundle for a private CA, or 'false' to skip TLS verification",
    )
    group.add_argument("--aws-access-key-id", default=None, help="prefer AWS_ACCESS_KEY_ID")
    group.add_argument("--aws-secret-access-key", default=None, help="prefer the environment")
    group.add_argument("--aws-session-token", default=None, help="prefer AWS_SESSION_TOKEN")
    group.add_argument(
        "--transport",
        choices=("lean", "botocore", "obstore"),
        default=None,
        help="how S3 reads are sent (default: env RZS_S3_TRANSPORT, else lean; "
        "obstore needs the obstore extra)",
    )
    failures = parser.add_argument_group(
        "failures (an endpoint that never answers costs at most about "
        "max-attempts x (connect + read timeout))"
    )
    for flag, env, convert, metavar, help in FAILURE_OPTIONS:
        failures.add_argument(
            flag,
            type=convert,
            default=_env_default(env, convert),
            metavar=metavar,
            help=f"{help}; env {env})",
        )


def _verify(value: str | None) -> bool | str | None:
    if value is None:
        return None
    return False if value.lower() in ("false", "0", "no", "off") else value


def connection_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``RemoteZipStore``/``S3Options`` keyword arguments the options describe.

    Options left out are left out here too, so each layer's defaults apply.
    """
    given = {
        "endpoint_url": args.endpoint_url,
        "region_name": args.region,
        "profile_name": args.profile,
        "anon": args.anon or None,
        "verify": _verify(args.verify),
        "aws_access_key_id": args.aws_access_key_id,
        "aws_secret_access_key": args.aws_secret_access_key,
        "aws_session_token": args.aws_session_token,
        "connect_timeout": args.connect_timeout,
        "read_timeout": args.read_timeout,
        "max_attempts": args.max_attempts,
        "transport": getattr(args, "transport", None),
    }
    return {name: value for name, value in given.items() if value is not None}


def _location(url: str) -> str:
    """``~`` expanded in a local path (a shell does it only at the start of a word)."""
    return url if "://" in url else os.path.expanduser(url)


def _open_archive(args: argparse.Namespace) -> ZipArchive:
    return open_archive(_location(args.url), **connection_kwargs(args))


def _open(args: argparse.Namespace) -> RemoteZipStore:
    from .. import RemoteZipStore  # the front end for the installed zarr (2 or 3)

    return RemoteZipStore(_location(args.url), root=args.root, **connection_kwargs(args))


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
