"""The merchant dashboard's rules, apart from HTTP (api/blueprints/dashboard.py): logging in with a
lockout (login), server-side sessions with their CSRF tokens (sessions)."""
