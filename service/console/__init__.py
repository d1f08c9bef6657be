"""The agents' web console under /console: server-rendered pages over the same service functions as the API."""
