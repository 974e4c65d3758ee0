-- Indexes in the order the console lists rows, so that a page of a large organization or
-- team is read off an index instead of sorting every member. The expression must stay the
-- one in orgs::members (MEMBER_ORDER) for the index to serve it.
CREATE INDEX organization_members_listed ON organization_members
    (org_id, (CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END), created_at, user_id);
CREATE INDEX team_members_listed ON team_members (team_id, manager DESC, created_at, user_id);
