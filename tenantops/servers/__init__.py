"""The HTTP servers tenantops runs: the provisioning API and the platform simulators."""
