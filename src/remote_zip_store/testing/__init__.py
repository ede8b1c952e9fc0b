"""Test and benchmark helpers shipped with the package: ``pip install "remote-zip-store[testing]"``.

* :mod:`.contract`: the front-end contract (:class:`FrontEndContract`), a pytest base class
  to run against your own S3-compatible setup (docs/testing.md);
* :mod:`.servers`: real S3 servers on 127.0.0.1 (moto's, SeaweedFS's ``weed mini``);
* :mod:`.netsim`: a simulated link (round-trip time, bandwidth) in front of a server;
* :mod:`.minis3`: a small S3-compatible endpoint on the standard library, the demo's
  embedded default (no moto, no flask; never a stand-in for S3 in the tests);
* :mod:`.sample`: the EEG-like sample archive; :mod:`.memsource`: an in-memory
  :class:`~remote_zip_store.transport.Source`; :mod:`.cold`: a run as a new process.

The names below load on first use, so importing this package (the demo imports
:mod:`.netsim`) needs neither pytest nor moto: those come with the ``testing`` extra.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_names

if TYPE_CHECKING:
    from .cold import forget_process_state
    from .contract import (
        Backend,
        FrontEnd,
        FrontEndContract,
        FrontEndFixtures,
        LocalFiles,
        Placed,
        S3Bucket,
        Zarr2FrontEnd,
        Zarr3FrontEnd,
        installed_front_end,
        write_contract_archive,
    )
    from .memsource import MemorySource
    from .netsim import Condition, NetSim
    from .sample import write_sample_archive
    from .servers import S3Server, moto_server, seaweedfs_server

#: Public name -> the module of this package that defines it.
_LAZY = {
    "forget_process_state": "cold",
    "Backend": "contract",
    "FrontEnd": "contract",
    "FrontEndContract": "contract",
    "FrontEndFixtures": "contract",
    "LocalFiles": "contract",
    "Placed": "contract",
    "S3Bucket": "contract",
    "Zarr2FrontEnd": "contract",
    "Zarr3FrontEnd": "contract",
    "installed_front_end": "contract",
    "write_contract_archive": "contract",
    "MemorySource": "memsource",
    "Condition": "netsim",
    "NetSim": "netsim",
    "write_sample_archive": "sample",
    "S3Server": "servers",
    "moto_server": "servers",
    "seaweedfs_server": "servers",
}


__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals())

__all__ = [
    "Backend",
    "Condition",
    "FrontEnd",
    "FrontEndContract",
    "FrontEndFixtures",
    "LocalFiles",
    "MemorySource",
    "NetSim",
    "Placed",
    "S3Bucket",
    "S3Server",
    "Zarr2FrontEnd",
    "Zarr3FrontEnd",
    "forget_process_state",
    "installed_front_end",
    "moto_server",
    "seaweedfs_server",
    "write_contract_archive",
    "write_sample_archive",
]
