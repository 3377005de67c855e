import sys

from podlog.cli import main

sys.exit(main())
