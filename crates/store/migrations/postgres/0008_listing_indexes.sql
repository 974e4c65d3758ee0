-- Indexes in the order the console lists rows, so that a page of a large organization or
-- team is read off an index instead of sorting every member. The expression must stay the
-- one in orgs::members (MEMBER_ORDER) for the index to serve it.
CREATE INDEX organization_members_listed ON organization_members
    (org_id, (CASE role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'member' THEN 2 ELSE 3 END), created_at, user_id);
CREATE INDEX team_members_listed ON team_members (team_id, manager DESC, created_at, user_id);

-- Searching users by any part of their email or name (users::list) through trigrams
-- instead of reading every user. pg_trgm ships with PostgreSQL and is a trusted extension:
-- the database's owner may create it.
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX users_email_trgm ON users USING gin (LOWER(email) gin_trgm_ops);
CREATE INDEX users_name_trgm ON users USING gin (LOWER(name) gin_trgm_ops);
