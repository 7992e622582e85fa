# Environment for the demo: the simulator's default client and the tenants' demo secrets.
# Source it: `. demo/env.sh`. None of these are real credentials.
export OAUTH_CLIENT_ID=demo-client
export OAUTH_CLIENT_SECRET=demo-secret
export ACME_CRM_TOKEN=demo-acme-crm-token
export GLOBEX_CRM_TOKEN=demo-globex-crm-token
export INITECH_CRM_TOKEN=demo-initech-crm-token
export UMBRELLA_CRM_TOKEN=demo-umbrella-crm-token
export WAYNE_CRM_TOKEN=demo-wayne-crm-token
export STARK_CRM_TOKEN=demo-stark-crm-token
