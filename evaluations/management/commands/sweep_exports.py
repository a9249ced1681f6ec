from django.core.management.base import BaseCommand

from evaluations.bulk_export import stale_after, sweep_stale_items


class Command(BaseCommand):
    help = "把工作进程中断后卡在“生成中”的批量导出项重新排队（可由 cron 定时运行）"

    def handle(self, **options) -> None:
        swept = sweep_stale_items()
        self.stdout.write(
            f"已处理 {swept} 个超过 {int(stale_after().total_seconds())} 秒仍在生成中的导出项。"
        )
