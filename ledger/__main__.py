import sys

from ledger.main import cli

sys.exit(cli())
