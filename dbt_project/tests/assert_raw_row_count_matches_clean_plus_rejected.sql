-- raw rows = rows in marts.tracks + rows in audit.rejected_rows, counted straight from the file.
select
    (select count(*) from {{ source('spotify', 'raw_tracks') }}) as raw_rows,
    (select count(*) from {{ ref('tracks') }}) as clean_rows,
    (select count(*) from {{ ref('rejected_rows') }}) as rejected_rows
where raw_rows != clean_rows + rejected_rows
