from workers.main import run

run()
