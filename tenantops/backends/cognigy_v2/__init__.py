"""The real Cognigy.AI REST API v2.0: projects, flows, intents, lexicons, chart nodes, snapshots, tasks."""
