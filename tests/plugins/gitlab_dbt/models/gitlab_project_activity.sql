with projects as (
    select id as project_id, path_with_namespace from {{ source('gitlab', 'projects') }}
),

issues_per_project as (
    select
        project_id,
        count(*) as issues_count,
        count(*) filter (where state = 'opened') as open_issues_count
    from {{ source('gitlab', 'issues') }}
    group by project_id
),

commits_per_project as (
    select project_id, count(*) as commits_count
    from {{ source('gitlab', 'commits') }}
    group by project_id
)

select
    projects.project_id,
    projects.path_with_namespace,
    coalesce(issues_per_project.issues_count, 0) as issues_count,
    coalesce(issues_per_project.open_issues_count, 0) as open_issues_count,
    coalesce(commits_per_project.commits_count, 0) as commits_count
from projects
left join issues_per_project using (project_id)
left join commits_per_project using (project_id)
