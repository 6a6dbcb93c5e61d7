"""Deploys, by concern; as every message, imported from `vigil.messages`:

- `spec`     what to run where, checked as it is parsed, and its write-only secrets
- `journal`  the deployer's events on `deploy.{id}.events`: steps, states, pull progress
- `records`  the record of a deploy and who may see it, the requests on `ctl.deploy.*`
             and `work.deploy.*` with their replies, the deployers' announcements
- `rollback` rolling back a Docker service's last deploy (`ctl.deploy.rollback.{host}`)
"""
