"""`hoso-exchange`: the partner body's side of exchange packages, with no Hoso server and
no database.

    hoso-exchange keygen [--home DIR]            make this body's keys, print the public line
    hoso-exchange show-key [--home DIR]          print the public line and its fingerprint
    hoso-exchange open FILE [--out DIR]          verify, decrypt and unpack a request package
    hoso-exchange answer REQUEST_FILE --findings JSON --answer TEXT [--file F ...] -o OUT

The home folder (default ~/.hoso-exchange, or HOSO_EXCHANGE_HOME) holds the private key
file and the organisation's pinned public key (pinned on the first package opened; a later
package signed by another key is refused).
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    raise NotImplementedError


if __name__ == "__main__":
    sys.exit(main())
