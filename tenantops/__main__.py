"""``python -m tenantops``: the same CLI as the ``tenantops`` script."""

from tenantops.cli import main

main()
