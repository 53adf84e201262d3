# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Action plugin of ``fleetsam.sam.win_software_facts``: the Linux collector's action plugin, whose
hand-over (``plugin_utils.spool.hand_off``) moves the raw ``windows`` inventory of the PowerShell
module's result to the callback's folder, as it moves the Linux package list."""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.fleetsam.sam.plugins.action.software_facts import ActionModule  # noqa: F401  pylint: disable=unused-import
