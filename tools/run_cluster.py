"""Body of tools/run_cluster.sh: start the cluster (lungseg_testing.cluster), make the first admin, wait."""
from __future__ import annotations

import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lungseg_core.people.accounts import UserDirectory, one_time_password  # noqa: E402
from lungseg_core.workflow.corrections_store import open_store  # noqa: E402
from lungseg_testing.cluster import app_cluster  # noqa: E402


def main(folder: str, servers: int) -> None:
    password = secrets.token_urlsafe(18)  # the database's own password (scram-sha-256), kept in the folder
    with app_cluster(Path(folder).resolve(), servers=servers, password=password, durable=True) as cluster:
        address_file = Path(folder) / "store-address"
        address_file.write_text(cluster.store_address + "\n")
        address_file.chmod(0o600)
        users = UserDirectory(open_store(cluster.store_address).database)
        if users.count() == 0:
            first = one_time_password("admin")
            users.create_first_admin("admin", first, must_change_password=True)  # printed: changed at once
            print(f"first admin: admin / {first} (change it at the first sign-in)")
        print(f"LungSeg Studio: {cluster.url}  ({servers} app servers: {', '.join(cluster.servers)})", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("stopping")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
