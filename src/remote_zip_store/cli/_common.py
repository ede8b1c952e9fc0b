"""What every command shares: connection options, opening, output, usage errors."""

from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..errors import ZarrFormatWarning
from ..hierarchy._frontend import open_archive

if TYPE_CHECKING:
    from ..archive._reader import ZipArchive
    from ..zarr2._store import RemoteZipStore


PROG = "remote-zip-store"

#: Environment variables read as defaults of the failure options.
ENV_CONNECT_TIMEOUT = "RZS_CONNECT_TIMEOUT"
ENV_READ_TIMEOUT = "RZS_READ_TIMEOUT"
ENV_MAX_ATTEMPTS = "RZS_MAX_ATTEMPTS"
ENV_TIMEOUT = "RZS_TIMEOUT"

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


def part_size_mib(text: str) -> int:
    """A multipart part size in MiB: S3 takes no part (but the last) under 5 MiB."""
    value = positive_int(text)
    if value < 5:
        raise argparse.ArgumentTypeError(
            f"must be at least 5 (MiB; S3's smallest part), not {value}"
        )
    return value


class DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows ``(default: X)`` only where there is one to show: not for flags, not for an
    option whose default is unset (None) or that states its own default in its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        if action.default in (None, False) or "default" in text:
            return text
        return super()._get_help_string(action)


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
    (
        "--timeout",
        ENV_TIMEOUT,
        positive_float,
        "SECONDS",
        "total for the open and for each read, retries and backoff included: the request "
        "in flight is abandoned and the command fails (default: none",
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
        "max-attempts x (connect + read timeout), or --timeout when given)"
    )
    for flag, env, convert, metavar, help in FAILURE_OPTIONS:
        default = _env_default(env, convert)
        now = f", set: {default}" if default is not None else ""
        failures.add_argument(
            flag,
            type=convert,
            default=default,
            metavar=metavar,
            help=f"{help}; env {env}{now})",
        )


def _verify(value: str | None) -> bool | str | None:
    if value is None:
        return None
    return False if value.lower() in ("false", "0", "no", "off") else value


def connection_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    """The ``RemoteZipStore`` keyword arguments the options describe (``timeout`` is a
    read option, the rest :class:`S3Options` fields).

    Options left out are left out here too, so each layer's defaults apply. One key
    without the other is bad usage (boto3's ``client()`` refuses it too).
    """
    key_id, secret = args.aws_access_key_id, args.aws_secret_access_key
    if (key_id is None) != (secret is None):
        given_flag, missing = (
            ("--aws-access-key-id", "--aws-secret-access-key")
            if secret is None
            else ("--aws-secret-access-key", "--aws-access-key-id")
        )
        raise UsageError(
            f"{given_flag} given without {missing}: pass both, or neither to use the "
            "environment or a profile"
        )
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
        "timeout": args.timeout,
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

    with warnings.catch_warnings():  # a command that needs zarr says it as its error
        warnings.simplefilter("ignore", ZarrFormatWarning)
        return RemoteZipStore(_location(args.url), root=args.root, **connection_kwargs(args))


def _out(line: str = "") -> None:
    sys.stdout.write(line + "\n")
