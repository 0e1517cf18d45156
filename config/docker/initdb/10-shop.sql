-- Runs once, when the postgres service initialises its data directory, as the
-- superuser in database "shop" (POSTGRES_DB). A sample schema, some rows, and the
-- least-privilege role of docs/operations.md for wal2kafka.

CREATE TABLE public.customers (
    id      int PRIMARY KEY,
    name    text NOT NULL,
    country text
);

CREATE TABLE public.orders (
    id          int PRIMARY KEY,
    customer_id int NOT NULL REFERENCES public.customers,
    amount      numeric(10,2) NOT NULL,
    placed_at   timestamptz NOT NULL DEFAULT now()
);

INSERT INTO public.customers VALUES (1, 'alice', 'NL'), (2, 'bob', 'DE');
INSERT INTO public.orders (id, customer_id, amount) VALUES (1, 1, 19.99), (2, 2, 5.00);

-- The role wal2kafka runs as (docs/operations.md, "A role with least privilege").
-- Its password is PGPASSWORD of the wal2kafka service in docker-compose.yml.
CREATE ROLE wal2kafka LOGIN REPLICATION PASSWORD 'wal2kafka-dev-password';
GRANT CONNECT ON DATABASE shop TO wal2kafka;
GRANT USAGE ON SCHEMA public TO wal2kafka;
GRANT SELECT ON public.orders, public.customers TO wal2kafka;

-- The owner of the tables creates the publication wal2kafka uses (stream "shop").
CREATE PUBLICATION wal2kafka_shop FOR TABLE public.orders, public.customers;
