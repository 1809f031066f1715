"""`python experiments/claims.py …` = `labelsmooth-claims …` (src/labelsmooth/cli/claims.py), for a checkout
without the console scripts on its PATH."""

import sys

from labelsmooth.cli.claims import main

if __name__ == "__main__":
    sys.exit(main())
