"""The web console on the operations port (http.console): server-rendered HTML pages, a
small stylesheet and script served from this package, login with the API token."""
