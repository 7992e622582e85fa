"""The platform behind one :class:`~tenantops.backends.base.Backend` Protocol, one package per API flavour."""
