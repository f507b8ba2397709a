"""Where a job runs: this computer, or ComfyUI servers over HTTP and a websocket.

- `registry`: the servers in the settings (add, remove, list, state, test connection);
- `tokens`: their bearer tokens, in the OS keyring or a file only the user can read;
- `client`: one server's HTTP and websocket API, with bounded responses and errors as sentences;
- `remote`: a generate or inpaint job run on a server, saved like a local one;
- `dispatch`: the engine functions `core.jobs` calls, which pick where a request runs.

Only `remote` and `dispatch` import the generation package; the window can list and test servers
without loading the model stack.
"""
