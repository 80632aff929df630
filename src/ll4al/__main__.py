"""``python -m ll4al`` is the ``ll4al`` command."""

import sys

from ll4al.cli import main

sys.exit(main())
