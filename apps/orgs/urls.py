"""Organization routes. Mounted twice by redmist/urls.py: under /event-management/[v1/] (the Organization
controller of §8.2) and /user-management/[v1/] (§9). docs/api-management.md lists them all."""

from apps.orgs import api
from apps.orgs.routes import action

event_management_urlpatterns = [
    action("Organization", "LoadOrganization", api.LoadOrganization),
    action("Organization", "UpdateOrganization", api.UpdateOrganization),
    action("Organization", "GetControlLogStatistics", api.GetControlLogStatistics),
    action("Organization", "LoadOrganizationAdministrators", api.LoadOrganizationAdministrators),
    action("Organization", "SaveOrganizationAdministrators", api.SaveOrganizationAdministrators),
]

user_management_urlpatterns = [
    action("Organization", "LoadUserOrganization", api.LoadUserOrganization),
    action("Organization", "LoadUserOrganizationRoles", api.LoadUserOrganizationRoles),
    action("Organization", "RelayClientNameExists", api.RelayClientNameExists),
    action("Organization", "ApiClientNameExists", api.ApiClientNameExists),
    action("Organization", "SaveNewOrganization", api.SaveNewOrganization),
    action("Organization", "SaveNewApiUser", api.SaveNewApiUser),
    action("Organization", "UpdateOrganization", api.UpdateUserOrganization),
    action("Organization", "LoadRelayConnection", api.LoadRelayConnection),
    action("Organization", "DeleteUserAccount", api.DeleteUserAccount),
    # Additions of this implementation: members and machine credentials.
    action("Organization", "LoadMembers", api.LoadMembers),
    action("Organization", "SaveMember", api.SaveMember),
    action("Organization", "RemoveMember", api.RemoveMember),
    action("Organization", "LoadClients", api.LoadClients),
    action("Organization", "CreateClient", api.CreateClient),
    action("Organization", "RotateClientSecret", api.RotateClientSecret),
    action("Organization", "RevokeClient", api.RevokeClient),
]
