"""A class on one host: `make hub` (as root) runs JupyterHub with this file from the environment
`make hub-install` built under HUB_PREFIX. Every learner gets a Unix user of their own, a working copy of the
student notebooks and a local endpoint of their own; the idle culler stops a learner's server, and with it
their endpoint, after LAB_HUB_IDLE_MINUTES without use. See docs/instructor.md, "Hosting a class"."""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))  # learners.py, beside this file

c = get_config()  # noqa: F821 (JupyterHub provides it)

prefix = Path(sys.prefix)  # the hub's environment: the lab, JupyterHub, the proxy, the student copies
state = Path(os.environ.get("LAB_HUB_STATE", prefix / "state"))
state.mkdir(mode=0o700, parents=True, exist_ok=True)
idle_minutes = int(os.environ.get("LAB_HUB_IDLE_MINUTES", "60"))

c.JupyterHub.bind_url = os.environ.get("LAB_HUB_URL", "http://:8000")
c.JupyterHub.db_url = f"sqlite:///{state / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(state / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(prefix / "proxy/node_modules/.bin/configurable-http-proxy")]
c.ConfigurableHTTPProxy.pid_file = str(state / "proxy.pid")

# Who comes in: each learner claims a name and sets a password at their first login (as the Littlest
# JupyterHub does); the instructor names in LAB_HUB_ADMINS administer the hub.
c.JupyterHub.authenticator_class = "firstuseauthenticator.FirstUseAuthenticator"
c.Authenticator.allow_all = True
c.Authenticator.admin_users = set(filter(None, os.environ.get("LAB_HUB_ADMINS", "").split(",")))
c.Authenticator.username_pattern = r"^[a-z][a-z0-9-]{0,19}$"  # a Unix name once prefixed

c.JupyterHub.spawner_class = "learners.LearnerSpawner"
c.LearnerSpawner.homes = os.environ.get("LAB_HUB_HOMES", "/home")
c.LearnerSpawner.unix_prefix = os.environ.get("LAB_HUB_UNIX_PREFIX", "lab-")
c.LearnerSpawner.student_copies = str(prefix / "share/codepipeline-lab/notebooks")
c.Spawner.cmd = [str(prefix / "bin/jupyterhub-singleuser")]
c.Spawner.notebook_dir = "~/codepipeline-lab"
c.Spawner.default_url = "/lab/tree/00_start_here.ipynb"
c.Spawner.environment = {"PATH": f"{prefix / 'bin'}:/usr/local/bin:/usr/bin:/bin"}
c.Spawner.env_keep = ["LANG", "TZ", "LAB_PACE"]  # nothing of the hub's own (it runs as root)
c.Spawner.http_timeout = 120  # a first start creates the learner's Unix user and copies the notebooks

c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [sys.executable, "-m", "jupyterhub_idle_culler", f"--timeout={idle_minutes * 60}"],
    }
]
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
