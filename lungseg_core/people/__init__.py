"""Roles and the checks every change goes through, accounts, the audit trail."""
