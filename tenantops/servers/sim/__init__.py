"""Platform simulators, one package per API flavour, so everything runs on one machine."""
