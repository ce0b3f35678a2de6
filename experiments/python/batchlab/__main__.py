"""python3 -m batchlab COMMAND ...: the batchlab command line itself.

This replaces the Python process with the batchlab executable built or installed with this
module (execv: same pid, arguments and environment), so every command, option, message and
exit status is the CLI's: `python3 -m batchlab sweep CONFIG.ini --study.seeds=0,1`.
"""
import os
import sys

from . import _paths


def main():
    exe = os.environ.get("BATCHLAB_EXE") or _paths.BATCHLAB_EXE
    try:
        os.execv(exe, ["batchlab"] + sys.argv[1:])
    except OSError as e:
        print(f"python3 -m batchlab: cannot run {exe} ({e.strerror}); build the batchlab target "
              f"or set BATCHLAB_EXE", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
