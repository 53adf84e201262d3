"""Stand-in for ansible-test's downloaded get-pip bootstrap script.

ansible-test bootstraps pip in each virtual environment it creates by running
a get-pip script fetched from the internet. This machine reaches only the
package registries, so this script takes its place in ansible-test's cache:
it installs pip with the interpreter's own ``ensurepip``, then installs the
requested packages (``pip==24.2`` ...) from the package index.
"""

import subprocess
import sys

# get-pip options that ``pip install`` does not know
GET_PIP_ONLY = {"--no-setuptools", "--no-wheel"}

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
subprocess.check_call([sys.executable, "-m", "pip", "install"] + [a for a in sys.argv[1:] if a not in GET_PIP_ONLY])
