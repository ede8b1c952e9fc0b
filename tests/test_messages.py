"""Issue 19 (a new user's defects): messages, help, extras and docs, under zarr 2.18.

The zarr-3 counterparts are in tests/zarr3/test_messages.py; the checks both worlds
share are in tests/messages_shared.py.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest
import tomllib
import zarr

from remote_zip_store import RemoteZipStore
from remote_zip_store.cli import main
from remote_zip_store.errors import ArchiveNotFoundError, ZarrFormatWarning
from remote_zip_store.testing.sample import write_sample_archive
from remote_zip_store.testing.servers import S3Server

from . import messages_shared as shared

pytestmark = pytest.mark.skipif(shared.zarr_major() >= 3, reason="zarr 2.18's API")

ROOT = shared.ROOT


def cli(*argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(list(argv))
        except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
            code = int(exc.code or 0)
    return code, out.getvalue(), err.getvalue()


def connection(s3: S3Server) -> list[str]:
    return [
        "--endpoint-url", s3.endpoint_url,
        "--aws-access-key-id", s3.access_key,
        "--aws-secret-access-key", s3.secret_key,
        "--region", s3.region,
    ]  # fmt: skip


def format3_zip(path: Path) -> Path:
    """A zarr-format-3 hierarchy (a group, one array), written by hand: no zarr 3 here."""
    group = {"zarr_format": 3, "node_type": "group", "attributes": {"a": 1}}
    array = {
        "zarr_format": 3,
        "node_type": "array",
        "shape": [4],
        "data_type": "int32",
        "chunk_grid": {"name": "regular", "configuration": {"chunk_shape": [4]}},
        "chunk_key_encoding": {"name": "default", "configuration": {"separator": "/"}},
        "fill_value": 0,
        "codecs": [{"name": "bytes", "configuration": {"endian": "little"}}],
    }
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("zarr.json", json.dumps(group))
        zf.writestr("x/zarr.json", json.dumps(array))
        zf.writestr("x/c/0", bytes(16))
    return path


# -- 6: a near-miss keyword ------------------------------------------------------------


def test_endpoint_typo_says_endpoint_url(moto: S3Server) -> None:
    kwargs = {k: v for k, v in moto.store_kwargs().items() if k != "endpoint_url"}
    with pytest.raises(
        TypeError, match=r"RemoteZipStore\(\).*endpoint \(did you mean endpoint_url\?\)"
    ):
        RemoteZipStore(f"s3://{moto.bucket}/x.zip", endpoint=moto.endpoint_url, **kwargs)
    with pytest.raises(TypeError, match=r"did you mean endpoint_url"):
        RemoteZipStore(f"s3://{moto.bucket}/x.zip", mode="w", endpoint=moto.endpoint_url)


# -- 7: a format-3 archive under zarr 2 ------------------------------------------------

FORMAT_3 = "zarr format 3 (zarr.json at its root), which zarr-python 2 cannot read: zarr >= 3"


def test_tree_of_a_format3_archive_says_so(tmp_path: Path) -> None:
    code, out, err = cli("tree", str(format3_zip(tmp_path / "v3.zip")))
    assert code == 1 and out == ""
    assert FORMAT_3 in err and "nothing found" not in err and err.count("\n") == 1


def test_bench_of_a_format3_archive_says_so(moto: S3Server, tmp_path: Path) -> None:
    url = moto.put_file(format3_zip(tmp_path / "v3.zip"))
    code, _, err = cli("bench", url, *connection(moto))
    assert code == 1 and FORMAT_3 in err and err.count("\n") == 1


def test_the_store_warns_at_open_and_its_key_error_says_why(moto: S3Server, tmp_path: Path) -> None:
    url = moto.put_file(format3_zip(tmp_path / "v3.zip"))
    with pytest.warns(ZarrFormatWarning, match="zarr format 3") as caught:
        store = RemoteZipStore(url, **moto.store_kwargs())
    assert caught[0].filename == __file__  # points at the caller's line
    with store:
        with pytest.raises(KeyError, match="zarr format 3"):
            store[".zgroup"]
        assert store["zarr.json"].startswith(b"{")  # the keys are still served
    with warnings.catch_warnings():  # a format-2 archive: no warning
        warnings.simplefilter("error", ZarrFormatWarning)
        RemoteZipStore(write_sample_archive(tmp_path / "v2.zip", channels=1)).close()


# -- 8, 9: missing buckets -------------------------------------------------------------


@pytest.mark.parametrize("mode", ["w", "w-"])
def test_writing_into_a_missing_bucket_fails_at_open(s3: S3Server, mode: str) -> None:
    url = "s3://no-such-bucket-rzs19/a.zip"
    with pytest.raises(ArchiveNotFoundError, match="bucket 'no-such-bucket-rzs19' does not exist"):
        RemoteZipStore(url, mode=mode, **s3.store_kwargs())


def test_scan_of_a_missing_bucket_says_bucket(s3: S3Server) -> None:
    code, _, err = cli("scan", "s3://no-such-bucket-rzs19/", *connection(s3))
    assert code == 1
    assert "bucket 'no-such-bucket-rzs19' does not exist" in err
    assert "object not found" not in err and "archive s3://" not in err


def test_reading_from_a_missing_bucket_says_bucket(moto: S3Server) -> None:
    with pytest.raises(ArchiveNotFoundError, match="bucket not found"):
        RemoteZipStore("s3://no-such-bucket-rzs19/a.zip", **moto.store_kwargs())


# -- 12, 13, 14: extras ----------------------------------------------------------------


def extras() -> dict[str, list[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return dict(project["optional-dependencies"])


def test_demo_extras() -> None:
    """[demo] keeps the README on zarr 2.18; [demo-zarr3] pins no zarr; neither pulls in an
    S3 server package: the demo serves from testing.minis3 (the standard library)."""
    found = extras()
    assert found["demo"] == ["zarr>=2.18,<3"]
    assert found.get("demo-zarr3", []) == []
    assert found["zarr2"] == ["zarr>=2.18,<3"]


def test_the_demo_runs_without_moto_or_flask() -> None:
    """What the demo extra no longer installs is not imported: the demo runs with moto,
    flask and werkzeug made unimportable (its endpoint is the standard library's)."""
    code = (
        "import sys\n"
        "for name in ('moto', 'flask', 'flask_cors', 'werkzeug'): sys.modules[name] = None\n"
        "from remote_zip_store.cli import main\n"
        "sys.exit(main(['demo', '--channels', '2']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "in-process S3 at http://127.0.0.1:" in proc.stdout
    assert "remote-zip-store" in proc.stdout and "read all" in proc.stdout


def test_demo_hint_keeps_zarr_2() -> None:
    from remote_zip_store.cli._demo import install_hint

    assert "pip install '.[demo]'" in install_hint()


def test_demo_runs_and_says_what_each_row_moved() -> None:
    shared.check_demo_output(shared.run_demo(), zarr_format=2)


def test_describe_rows_says_the_chain_fetched_everything_at_open() -> None:
    from remote_zip_store.verbs._compare import Cost, Measurement, describe_rows

    store = Measurement("remote-zip-store", "", Cost(2, 100, 0.1), Cost(3, 900, 0.2), 0.0)
    chain = Measurement("s3fs+ZipFileSystem+FSMap", "", Cost(9, 1000, 0.5), Cost(0, 0, 0.0), 0.0)
    lines = describe_rows([store, chain], 1000)
    assert "3 range GET(s) for 900 bytes" in lines[0]
    assert "the whole 1,000-byte object (s3fs read it all while opening)" in lines[1]
    assert "read all then moved 0 bytes in 0 request(s) (from what open" in lines[1]


def test_docs_say_what_installs() -> None:
    recipes = (ROOT / "docs" / "recipes.md").read_text()
    assert "zarr 3.1.6" in recipes and "xarray 2026.2.0" in recipes
    zarr3 = (ROOT / "docs" / "zarr3.md").read_text()
    assert "demo-zarr3" in zarr3 and "3.1.6" in zarr3


# -- 15, 16: opening modes, counting ---------------------------------------------------


def test_the_opening_table_of_usage_md(tmp_path: Path) -> None:
    shared.check_opening_table(tmp_path / "rec.zip")


def test_stats_and_measure(s3: S3Server, tmp_path: Path) -> None:
    shared.check_stats_and_measure(s3, tmp_path)


# -- 17: help texts and exit codes -----------------------------------------------------


@pytest.mark.parametrize("command", ["scan", "pack", "demo", "tree"])
def test_help_shows_each_default_once(command: str) -> None:
    code, out, _ = cli(command, "--help")
    assert code == 0
    text = " ".join(out.split())
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "(default 10; env RZS_CONNECT_TIMEOUT)" in text or command == "demo"


def test_pack_help_describes_src_and_dst() -> None:
    _, out, _ = cli("pack", "--help")
    text = " ".join(out.split())
    assert "SRC a zarr directory or a zip" in text and "DST the new zip" in text
    assert "multipart part size in MiB (>= 5) (default: 8)" in text


@pytest.mark.parametrize("value", ["0", "3", "4", "x"])
def test_pack_part_size_below_5_is_a_usage_error(value: str, tmp_path: Path) -> None:
    code, out, err = cli("pack", str(tmp_path), str(tmp_path / "o.zip"), "--part-size", value)
    assert code == 2 and out == "" and "--part-size" in err
    assert not (tmp_path / "o.zip").exists()


def test_readme_and_index_do_not_say_read_only_v2() -> None:
    for page in ("README.md", "docs/index.md", "docs/usage.md"):
        text = (ROOT / page).read_text()
        assert "read-only zarr v2 store" not in text, page
        assert "zarr format 2 and 3" in text or "zarr format 2 or 3" in text, page


# -- 18: copy_store from an archive with duplicate entries -----------------------------


def test_copy_store_from_a_rewritten_archive(tmp_path: Path) -> None:
    """docs/writing.md: zarr's ZipStore lists a rewritten key twice (CopyError); ours once."""
    path = str(tmp_path / "dup.zip")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile: "Duplicate name"
        with zarr.ZipStore(path, mode="w") as store:
            root = zarr.group(store=store)
            root.attrs["a"] = 1
            root.attrs["a"] = 2
    text = (ROOT / "docs" / "writing.md").read_text()
    assert "zarr.errors.CopyError: key '.zattrs' exists in" in text
    with pytest.raises(zarr.errors.CopyError, match=r"'\.zattrs' exists in destination"):
        zarr.copy_store(zarr.ZipStore(path, mode="r"), {})
    out: dict[str, bytes] = {}
    store = RemoteZipStore(path)  # the documented line, with `store` a dict here
    exec('zarr.copy_store(RemoteZipStore("old.zip"), store)'.replace('"old.zip"', repr(path)),
         {"zarr": zarr, "RemoteZipStore": RemoteZipStore, "store": out})  # fmt: skip
    assert '"a": 2' in out[".zattrs"].decode()
    store.close()


# -- 19: pytest configuration ----------------------------------------------------------


def test_pytest_prints_no_configuration_warning() -> None:
    shared.check_no_pytest_config_warnings()
