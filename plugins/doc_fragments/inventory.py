# -*- coding: utf-8 -*-
# Copyright: fleetsam developers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    """Attributes shared by the fleetsam inventory collectors: they only read."""

    DOCUMENTATION = r'''
attributes:
  check_mode:
    description: Can run in check mode and return the same inventory.
    support: full
  diff_mode:
    description: Changes nothing, so there is no diff to show.
    support: none
'''
