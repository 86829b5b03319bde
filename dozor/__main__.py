import sys

from dozor.cli.main import main

sys.exit(main())
