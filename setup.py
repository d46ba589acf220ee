"""Package discovery for spctl's four import packages, whose folders have other names.

pyproject.toml holds the metadata; setuptools' own discovery cannot map a folder to a
package of another name (cli/ is spctl_cli), so every folder with an ``__init__.py`` below
each root is found here: a new subpackage ships without a list to keep up to date.
"""

from setuptools import find_packages, setup

ROOTS = {"spctl": "spctl", "spctl_cli": "cli", "spctl_agent": "agent", "spctl_lab": "lab"}


def packages() -> list[str]:
    found = []
    for package, folder in ROOTS.items():
        found.append(package)
        found += [f"{package}.{sub}" for sub in find_packages(folder)]
    return found


setup(
    package_dir=ROOTS,
    packages=packages(),
)
