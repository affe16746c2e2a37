"""The Jobbergate project package: settings, URLs, WSGI, and the bases shared by every resource app."""
