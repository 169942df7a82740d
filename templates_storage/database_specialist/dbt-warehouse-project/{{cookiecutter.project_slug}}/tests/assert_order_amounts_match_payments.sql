-- Singular test: returns the orders whose fact-table amount disagrees with the raw payments.
with payments as (
    select order_id, sum(amount) as paid
    from {{ ref('stg_payments') }}
    group by order_id
)

select fct.order_id, fct.amount, payments.paid
from {{ ref('fct_orders') }} as fct
join payments using (order_id)
where abs(fct.amount - payments.paid) > 0.001
