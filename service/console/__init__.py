"""The agents' web console under /console: server-rendered pages over the API's service functions."""
