"""fleetctl: build once, promote everywhere.

`fleetctl manifest` describes what `./pants package ::` wrote to dist/ (dist/manifest.json);
`publish` puts those exact bytes into an environment's artifact bucket under content-addressed
keys; `promote` copies a release's objects, verified, from one environment's bucket to the next;
`verify` re-checks an environment's current release; `status` says which release each runs.
"""
