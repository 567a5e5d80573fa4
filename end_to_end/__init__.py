"""End-to-end tests across the apps: live servers, browsers, races, release, backups,
and the sweeps over every route.

Tests of one module live with that module's app (`<app>/tests/test_<module>.py`); what
needs the whole project working together (the reference topology of deploy/ in real
processes, every route as every role) is here, with the helpers that run it: `servers`
(gunicorn, nginx, a replica, Celery), `units` (systemd's stand-in) and `loadgen`.
"""
