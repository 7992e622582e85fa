"""The staged plan and drift pipeline: render while idle, fetch on the network, diff while idle."""
