"""``python -m remote_zip_store``: the ``remote-zip-store`` command."""

import sys

from .cli import main

sys.exit(main())
