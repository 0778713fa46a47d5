# Copyright: cemu.moodle contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The demo (`python -m tests.demo`) and the helpers that run the real ansible-playbook."""
